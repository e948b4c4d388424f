#!/usr/bin/env python3
"""How a shipped calibration does on annotations smaller than the benchmark's: replays an evaluation's results log
(hpf evaluate --results LOG on PF-WILLOW) with each pair's annotation cut to K of its points (a fixed random choice
per pair), makes the set signals anew as PairPrediction.TransferAll does (extents in strides, the robust affine map
of the other points), and reports AUROC and ECE (10 bins) of the set model and of the point model alone.
    tools/calibration/cut_annotations.py PAIRS.csv LOG.jsonl CALIBRATION.json [K ...]
Needs numpy. With K = 10 it reproduces the evaluation's own confidences."""
import json, csv, sys, numpy as np
from figures import auroc, ece
pairs_csv, log, calibration = sys.argv[1:4]
sizes = [int(k) for k in sys.argv[4:]] or [5, 7, 10]
cal=json.load(open(calibration))
rows=list(csv.reader(open(pairs_csv)))[1:]
def lsq(pts):  # pts: list of (x,y,v)
    m=np.zeros((3,4))
    for x,y,v in pts:
        r=np.array([x,y,1.0]); m[:,:3]+=np.outer(r,r); m[:,3]+=r*v
    m[:,:3]+=np.eye(3)*1e-6
    return np.linalg.solve(m[:,:3],m[:,3])
def robust(F,T,mk=6):
    kept=list(range(len(F)))
    for rnd in range(3):
        ax=lsq([(F[i][0],F[i][1],T[i][0]) for i in kept]); ay=lsq([(F[i][0],F[i][1],T[i][1]) for i in kept])
        if rnd==2: return ax,ay
        res=[(ax@[F[i][0],F[i][1],1]-T[i][0])**2+(ay@[F[i][0],F[i][1],1]-T[i][1])**2 for i in kept]
        order=[kept[j] for j in np.argsort(res,kind='stable')]
        kept=order[:max(mk,int(len(kept)*0.7))]
ext=lambda Q: max(np.ptp(Q[:,0]),np.ptp(Q[:,1]))
def prob(model,x):
    z=model['bias']+sum(w*(xi-m)/s for w,xi,m,s in zip(model['weights'],x,model['mean'],model['scale'])); return 1/(1+np.exp(-z))
def pointfeat(s):
    l=np.log1p; c=l(s[1])
    return [s[0],c,s[2],l(s[3]),l(s[4]),s[5],l(s[6]),l(s[7]),l(s[8]),s[9],s[10],s[0]*s[10],c*s[2]]
def setfeat(s,n,se,te,res):
    a,b,r,k=np.log(se),np.log(te),np.log1p(10*res),np.log(n); return pointfeat(s)+[a,b,r,k,a*k,b*k,r*k]
recs=[json.loads(l) for l in open(log)]; recs=[r for r in recs if 'index' in r]
for k in sizes:
    P=[];Pp=[];Y=[]
    for r in recs:
        row=rows[r['index']]; v=list(map(float,row[2:])); S=np.array([v[0:10],v[10:20]]).T; T=np.array(r['predicted'])
        sig=[p['signals'] for p in r['points']]
        w=sig[0]; sper=w[12]/ext(S); tper=w[13]/ext(T)
        rng=np.random.default_rng(r['index']*100+k); ch=np.sort(rng.choice(10,k,replace=False))
        s,t=S[ch],T[ch]; se,te=ext(s)*sper,ext(t)*tper
        for j,i in enumerate(ch):
            Y.append(r['points'][i]['error']<=0.1); Pp.append(prob(cal['point_model'],pointfeat(sig[i])))
            if se>=1 and te>=1:
                o=[q for q in range(k) if q!=j]; ax,ay=robust(s[o],t[o]); pr=np.array([ax@[s[j][0],s[j][1],1],ay@[s[j][0],s[j][1],1]])
                P.append(prob(cal['set_model'],setfeat(sig[i],k,se,te,np.linalg.norm(pr-t[j])/ext(t))))
            else: P.append(Pp[-1])
    print(k,'points:','set model AUROC %.3f ECE %.3f | point model AUROC %.3f ECE %.3f | n %d'%(auroc(P,Y),ece(P,Y),auroc(Pp,Y),ece(Pp,Y),len(Y)))
