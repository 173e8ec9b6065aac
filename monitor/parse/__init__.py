"""Turning fetched bytes into ``FeedEntry`` records: feeds (feedparser), pages (bs4)."""
