"""The admin command line: `fedgroup admin NOUN VERB …`, one module per noun.

`main.main(argv)` is the entry point; see `commands.CommandRegistry` for adding a noun.
"""
