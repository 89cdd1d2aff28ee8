"""Real-time events: the bus between processes, the events themselves, tickets and resume."""
