"""python -m training {download,train,ensemble,calibrate,export,evaluate} ..."""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from training import calibrate, download, ensemble, evaluate, export, train

    for module in (download, train, ensemble, calibrate, export, evaluate):
        p = sub.add_parser(module.__name__.rsplit(".", 1)[-1], help=module.__doc__.splitlines()[0])
        module.add_arguments(p)
        p.set_defaults(run=module.cli)
    args = parser.parse_args(argv)
    return args.run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
