"""shipyard: tickets in, gated merge requests out, as a doit graph of files under state/."""
