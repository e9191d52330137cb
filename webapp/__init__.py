"""The Flask faces of Isnad: app factory, JSON API and HTML pages over the query engine in `retrieval`."""
