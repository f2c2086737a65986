"""Mandatory incident notification between partners: who, by when, and delivery.

**Who and by when** comes from the agreements. An agreement's ``notification_policy`` (a
``NotificationPolicy``: severity → hours, clock from detection or occurrence) binds both
parties: when either has an incident of a severity the policy lists, the other must be
notified within those hours. Severities it does not list are below the threshold. Two
agreements between the same pair: the earlier deadline wins.
``report_incident_with_agreements`` reports the incident and requires each partner's
notification (``service.require_notification``) in one owner transaction.

**Delivery.** A partner that registered a webhook (``register_endpoint``: URL and a shared
secret, the secret Fernet-encrypted at rest) is notified by an HTTP POST of a JSON body
signed ``X-Accord-Signature: sha256=HEX(HMAC-SHA256(secret, "<timestamp>.<body>"))`` with
``X-Accord-Timestamp`` (Unix seconds; receivers should refuse old ones) and
``X-Accord-Delivery`` (one id for all attempts of a delivery, for de-duplication). Timeouts,
connection errors, 408, 429 and 5xx are retried with exponential backoff and full jitter
(``Retry-After`` honoured up to the cap); other answers fail at once. Every attempt is a
row of the owner's append-only ``webhook_deliveries``. A partner without a webhook that is
an Accord tenant is notified through its own event log (``incident.notification_received``,
streamed by the ``incidentNotifications`` subscription).

On delivery the partner's view (``received_incident_notifications``, and its event log) is
written first, then the owner's notification is marked notified (``mark_notified``): on
time or late against its deadline, flagged late on both sides. A delivery that fails ends
``failed`` with a code (``WEBHOOK_TIMEOUT`` …), changes no notification, and leaves
``incident.notification_failed`` in the owner's event log; the notification stays pending
(and overdue once its deadline passes) for the next ``deliver_pending`` run.

While a notification is being delivered its row is locked (``FOR UPDATE SKIP LOCKED``), so
schedulers running side by side never deliver it twice; a crash mid-delivery loses that
delivery's attempt rows (they commit with it). Receivers should de-duplicate on
``notification_id``: a delivery whose owner-side commit fails is retried.

Secrets are encrypted with the platform's secret key (``accord.platform.secrets``), the
same key connector credentials use.
"""
