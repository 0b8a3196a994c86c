import{s as e,p as a}from"./BtVWMbWY.js";const t={get data(){return a.data},get params(){return a.params}};e.updated.check;const r=t;export{r as p};
