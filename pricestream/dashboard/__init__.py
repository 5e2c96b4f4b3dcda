"""``pricestream dashboard``: a read-only live web page over the topics and the worker (see server.py)."""
