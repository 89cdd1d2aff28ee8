"""Services: logic that spans repositories (sending, reading, cursors)."""
