"""Errors meant for people: the CLI and the app print their message, never a traceback."""


class RestoreError(Exception):
    """Base class for every error whose message is addressed to the user."""


class DataError(RestoreError):
    """A dataset, image or folder is missing, corrupt or does not match what was expected."""


class WeightsError(RestoreError):
    """Weights are missing, fail their checksum, or do not fit the network."""


class SettingsError(RestoreError, ValueError):
    """An option has a value that cannot be used (a tile, scale, precision or device the engine refuses).

    Also a ValueError, which is what these mistakes raised before the front ends could print them directly.
    """
