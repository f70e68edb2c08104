import itertools


def numbers():
    n = 0
    while True:
        yield n
        n += 1


def evens(it):
    return (x for x in it if x % 2 == 0)


print(list(itertools.islice(evens(numbers()), 10)))
