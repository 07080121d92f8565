"""CSV exports of the lists: the page's own filters and visibility, every row streamed, personal data masked
unless the user may see it and states why (the reason goes to the access log)."""
