export { Blockers, nameFor } from './blockers';
export { HostRetirement } from './host-retirement';
export { ImageRetirement } from './image-retirement';
export { GroupDeletionMode, GroupRetirement } from './group-retirement';
