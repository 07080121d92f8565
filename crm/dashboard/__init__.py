"""Staff dashboard and the firm portal's home page."""
