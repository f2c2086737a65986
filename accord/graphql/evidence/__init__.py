"""Evidence through the gateway: the upload mutation and the download route."""
