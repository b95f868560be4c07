"""Payment links: reusable links a merchant shares, each visit opening a fresh checkout session."""
