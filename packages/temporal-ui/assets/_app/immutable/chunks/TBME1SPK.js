var a=(e=>(e[e.Cancel=0]="Cancel",e[e.Reset=1]="Reset",e[e.Terminate=2]="Terminate",e))(a||{});export{a as A};
