"""Ingestors: turn a transport (SMTP, IMAP, Twilio webhook, web form) into committed `raw_inbound` rows."""
