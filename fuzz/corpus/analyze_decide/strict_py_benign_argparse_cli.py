Åimport argparse
import logging

parser = argparse.ArgumentParser(description="greet people")
parser.add_argument("--name", default="world", help="who to greet, e.g. ~/.ssh/config owner")
parser.add_argument("--times", type=int, default=1)
args = parser.parse_args([])
logging.basicConfig(level=logging.INFO)
for _ in range(args.times):
    logging.info("hello %s", args.name)
    print(f"hello {args.name}")
