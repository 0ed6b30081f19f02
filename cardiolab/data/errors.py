"""The one exception every loader raises for input it cannot read."""


class CineLoadError(ValueError):
    """A file or folder could not be read as a cine study.

    The message always names the offending path and the problem, so that the
    command line, the notebooks and the web app can show it to the user as is.
    """

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
