"""The subscriber-facing web app: sign up, confirm, preferences, unsubscribe."""
