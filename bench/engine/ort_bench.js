// Times ONNX Runtime (onnxruntime-node, CPU) on synthetic input; prints one JSON line like
// `binscan bench --format json`.  node ort_bench.js MODEL.onnx BATCH THREADS ITERATIONS SIZE
'use strict';
const path = require('path');
const ort = require(path.join(__dirname, '.node', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, batch, threads, iterations, size] = process.argv.slice(2);
  const b = Number(batch), s = Number(size || 224);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const data = new Float32Array(b * 3 * s * s);
  let seed = 1;  // deterministic pseudo-random input in [-1, 1)
  for (let i = 0; i < data.length; ++i) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    data[i] = seed / 1073741824 - 1;
  }
  const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, [b, 3, s, s])};
  for (let i = 0; i < 2; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < Number(iterations); ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((x, y) => x - y);
  const ms = times[Math.floor(times.length / 2)] / b;
  console.log(JSON.stringify({model, batch: b, threads: Number(threads), ms_per_image: ms,
                              images_per_second: 1000 / ms}));
}
main().catch((e) => { console.error(e); process.exit(1); });
