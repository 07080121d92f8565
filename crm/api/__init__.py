"""The JSON API v1 (../shared/API.md): the same operations and visibility rules as the HTML views, Bearer
tokens, one error format, cursor pagination, and an OpenAPI 3.1 document generated from the code."""
