"""The firm registry (기업): firms, their contacts, yearly financials and consortium links."""
