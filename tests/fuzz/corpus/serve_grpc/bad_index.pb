
dlrmg*
denseINT64**
sparseINT32*Ÿ2
probability