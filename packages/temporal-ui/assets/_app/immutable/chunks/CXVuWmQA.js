import{an as n}from"./DYX0w8bX.js";function b(l,r){var e;var a=(e=l.$$events)==null?void 0:e[r.type],s=n(a)?a.slice():a==null?[]:[a];for(var t of s)t.call(this,r)}export{b};
