"""Corpus modules: each knows one corpus's layout and quirks, and turns it into lhotse manifests."""
