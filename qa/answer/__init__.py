"""From retrieved passages to a verified, cited answer: evidence, prompts, checks, news notes."""
