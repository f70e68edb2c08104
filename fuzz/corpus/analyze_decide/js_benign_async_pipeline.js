1// Async/await with promises and a small concurrency limit.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function work(id) {
  await sleep(10 * id);
  return id * id;
}

async function main() {
  const ids = [1, 2, 3, 4, 5, 6];
  const results = [];
  while (ids.length) {
    const batch = ids.splice(0, 2);
    results.push(...(await Promise.all(batch.map(work))));
  }
  console.log(results);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
