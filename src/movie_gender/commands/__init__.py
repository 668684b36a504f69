"""The subcommands of the installed ``movie-gender`` command, one module each.

Every module has ``build_parser()`` (its options, each with help) and ``main(argv)``; ``scripts/*.py`` are thin
wrappers over the same ``main``.
"""
