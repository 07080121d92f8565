"""Activities: consulting sessions, visits, calls and meetings with a firm, on firm and engagement pages."""
