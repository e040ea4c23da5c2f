// The function code of every spirt Lambda: the handlers come from the layer (/opt/nodejs/node_modules/spirt).
// Lambda resolves a handler inside the function's own code, hence this one-line re-export.
'use strict';
module.exports = require('spirt/functions');
