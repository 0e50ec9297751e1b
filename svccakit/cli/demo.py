"""Placeholder, replaced by the issue-2 helper."""


def add_parser(subparsers):
    p = subparsers.add_parser("demo", help="placeholder")
    p.set_defaults(func=lambda args: 0)
