import{w as s}from"./DsexP6Wk.js";import{p as a}from"./DvmEkM8-.js";const r=a("lastNamespace","default",!0),o=s([]);export{r as l,o as n};
