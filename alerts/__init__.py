"""Alert emails about new, revised and withdrawn reports.

- :mod:`alerts.subscriptions` — who wants what (validated filters, unsubscribe tokens);
  ``unsubscribe(session, token_or_email)`` is what the web unsubscribe page calls.
- :mod:`alerts.match` — which outbox events (``ChangeEvent``) a subscription wants.
- :mod:`alerts.digest` — the multipart zh/en message for one digest.
- :mod:`alerts.smtp` — connecting (none / starttls / ssl) and the DATA phase split at the dot.
- :mod:`alerts.send` — ``send_pending(db, settings, run_id=None)``: claim and deliver, exactly
  once as far as SMTP allows (the reasoning is in that module's docstring).

SMTP settings: ``smtp_host``, ``smtp_port``, ``smtp_from``, ``smtp_security``, ``smtp_user`` in
the config file or ``OGI_SMTP_*``; the password only in ``OGI_SMTP_PASSWORD``. Links in the
emails (report page, archived original, unsubscribe) need ``base_url``.
"""
