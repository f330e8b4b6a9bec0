// Drives eureka-js-client for `cargo xtask interop`.
//
// Usage: node js_client.js SERVICE_URL APP INSTANCE_ID PORT
//
// Registers APP (heartbeat and registry fetch, by delta, every second), then answers
// one line per command read from stdin; the client's own logging goes to stderr. The
// client has no call to change an instance's status (it always registers UP), so there
// is no status command here.
//
//     discover APP SECS  ->  found ID IP:PORT STATUS  |  missing APP
//     stop               ->  stopped                  (then exits)
'use strict';

const readline = require('readline');
const { Eureka } = require('eureka-js-client');

const [serviceUrl, app, instanceId, port] = process.argv.slice(2);

function say(line) {
  process.stdout.write(`${line}\n`);
}

// The client's default logger writes info lines to stdout, which carries the protocol.
const logger = {
  debug: () => {},
  info: (...args) => console.error(...args),
  warn: (...args) => console.error(...args),
  error: (...args) => console.error(...args),
};

const client = new Eureka({
  logger,
  shouldUseDelta: true,
  instance: {
    instanceId,
    app,
    hostName: '127.0.0.1',
    ipAddr: '127.0.0.1',
    port: { $: Number(port), '@enabled': 'true' },
    vipAddress: app.toLowerCase(),
    statusPageUrl: `http://127.0.0.1:${port}/info`,
    dataCenterInfo: {
      '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
      name: 'MyOwn',
    },
  },
  eureka: {
    serviceUrls: { default: [`${serviceUrl.replace(/\/?$/, '/')}apps/`] },
    heartbeatInterval: 1000,
    registryFetchInterval: 1000,
    maxRetries: 0,
  },
});

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Polls the client's registry cache until APP has an instance (the client keeps UP ones).
async function discover(name, secs) {
  const deadline = Date.now() + secs * 1000;
  while (Date.now() < deadline) {
    const [instance] = client.getInstancesByAppId(name);
    if (instance) {
      return `found ${instance.instanceId} ${instance.ipAddr}:${instance.port.$} ${instance.status}`;
    }
    await sleep(200);
  }
  return `missing ${name}`;
}

function stop() {
  client.stop((error) => {
    if (error) console.error('stop failed:', error.message);
    say('stopped');
    process.exit(0);
  });
}

async function serve(line) {
  const words = line.trim().split(/\s+/);
  if (words[0] === 'stop') return stop();
  if (words[0] === 'discover') return say(await discover(words[1], Number(words[2])));
  return say(`unknown command ${words[0]}`);
}

client.start((error) => {
  if (error) {
    console.error('start failed:', error.message);
    say('failed to start');
    process.exit(1);
  }
  say('registered');
  const input = readline.createInterface({ input: process.stdin });
  input.on('line', (line) => {
    serve(line);
  });
  input.on('close', stop);
});
