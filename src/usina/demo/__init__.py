"""``usina demo``: the end-to-end story on synthetic credit-risk data."""
