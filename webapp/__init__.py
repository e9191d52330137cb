"""Isnad web application: hybrid retrieval, cited answers, HTML pages and the JSON API."""
