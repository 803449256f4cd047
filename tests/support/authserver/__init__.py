"""Real OAuth 2.0 authorization server (django-oauth-toolkit) for integration tests."""
