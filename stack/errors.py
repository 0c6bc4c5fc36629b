"""The one exception the stack raises: what went wrong, and the fix."""


class StackError(Exception):
    """A failure a learner can act on. ``fix`` says what to do about it."""

    def __init__(self, problem: str, fix: str = ""):
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem
