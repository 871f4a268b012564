"""Templates, static files and helpers of the web pages (``service/_pages.py``)."""
