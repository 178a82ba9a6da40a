"""Click parameter types shared by lab.py and the cohort commands (light: no heavy imports)."""

import click


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses nan (it compares false with both bounds, so FloatRange lets it in)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number.", param, ctx)
        return number
