import{w as t}from"./DsexP6Wk.js";const r=t([]),s=t([]);export{s as a,r as i};
