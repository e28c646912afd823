'use strict';
// CommonJS entry point: require('@sidecarproxy/session').
module.exports = require('./lib/index.cjs');
