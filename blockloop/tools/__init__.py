"""Tools: the ``blockloop`` command line and the kill-and-resume self-test.

May import anything in blockloop; nothing in blockloop imports the tools.
"""
