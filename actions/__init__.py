"""Custom actions (rasa-sdk): forms per request type, submission, status, rating, handoff."""
