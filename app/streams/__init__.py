"""Pattern E: the table's stream keeps every participant's conversation row up to date.

``handler`` is the AWS Lambda entry point; ``worker`` is its local stand-in, which polls the
embedded server's stream and calls the same ``handle_event``.
"""
