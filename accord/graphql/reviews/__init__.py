"""Management review mutations (compile, freeze, sign) and the signed-review bundle."""
