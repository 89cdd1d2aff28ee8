"""Operator scripts: the ddb command-line tool and its data."""
