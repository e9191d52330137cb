"""The root of Isnad's own errors: each one's message says what is wrong and what to do."""


class IsnadError(Exception):
    """An expected failure (bad configuration, an index that cannot be used, a store out of reach).

    The command line prints its message without a traceback; anything else is a bug.
    """
