"""Notification: digests (and later webhook alerts) built from stored matches."""
