"""Request and response bodies of the intake API, one module per job kind."""
